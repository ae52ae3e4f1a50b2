//! Small, total edits for writing changes: each touches only what it names
//! and leaves every other value (arrays, nulls, scalars) as it was.

use serde_json::Value;

/// Applies `edit` to `value` if it is an object, or to each object element
/// if it is an array (a list endpoint); anything else is left alone.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::transform::json::for_each_object;
/// let mut v = serde_json::json!([{"a": 1}, null, "s"]);
/// for_each_object(&mut v, |o| { o.insert("b".into(), 2.into()); });
/// assert_eq!(v, serde_json::json!([{"a": 1, "b": 2}, null, "s"]));
/// ```
pub fn for_each_object(
    value: &mut Value,
    mut edit: impl FnMut(&mut serde_json::Map<String, Value>),
) {
    match value {
        Value::Object(map) => edit(map),
        Value::Array(items) => {
            for item in items {
                if let Value::Object(map) = item {
                    edit(map);
                }
            }
        }
        _ => {}
    }
}

/// Renames field `from` to `to` (on an object or each object of an array).
/// Falsy values (`0`, `""`, `false`, `null`) are moved like any other.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::transform::json::rename_field;
/// let mut v = serde_json::json!({"name": null, "version": 2});
/// rename_field(&mut v, "name", "full_name");
/// assert_eq!(v, serde_json::json!({"full_name": null, "version": 2}));
/// ```
pub fn rename_field(value: &mut Value, from: &str, to: &str) {
    for_each_object(value, |map| {
        if let Some(field) = map.remove(from) {
            map.insert(to.to_owned(), field);
        }
    });
}

/// Removes field `name` (on an object or each object of an array).
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::transform::json::remove_field;
/// let mut v = serde_json::json!({"a": 1, "b": 2});
/// remove_field(&mut v, "b");
/// assert_eq!(v, serde_json::json!({"a": 1}));
/// ```
pub fn remove_field(value: &mut Value, name: &str) {
    for_each_object(value, |map| {
        map.remove(name);
    });
}

/// Inserts field `name` with `default` where it is absent (an explicit
/// `null` is kept).
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::transform::json::insert_default;
/// let mut v = serde_json::json!([{"a": 1}, {"a": 2, "b": null}]);
/// insert_default(&mut v, "b", serde_json::json!(0));
/// assert_eq!(v, serde_json::json!([{"a": 1, "b": 0}, {"a": 2, "b": null}]));
/// ```
pub fn insert_default(value: &mut Value, name: &str, default: Value) {
    for_each_object(value, |map| {
        map.entry(name.to_owned())
            .or_insert_with(|| default.clone());
    });
}

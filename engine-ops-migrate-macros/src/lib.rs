//! The `embed!` macro of [engine-ops-migrate]: use it through
//! `engine_ops_migrate::embed!` (feature `macros`, on by default), whose
//! documentation has the examples.
//!
//! `embed!("migrations")` reads the directory at compile time (the path is
//! relative to the crate's `Cargo.toml`; `embed!()` means `"migrations"`),
//! checks every file against the rules of engine-ops-migrate's `source`
//! module (names, pairs, versions, directives), and expands to a
//! `Vec<SqlMigration>` whose texts are `include_str!`-ed, so editing or
//! removing a file rebuilds the crate. A broken rule is a compile error
//! naming the file. Cargo cannot see a file being *added* to a directory
//! without a build script; a one-line `build.rs` with
//! `println!("cargo::rerun-if-changed=migrations");` does it, and a debug
//! build whose directory changed after it was built says so when it
//! starts.
//!
//! [engine-ops-migrate]: https://docs.rs/engine-ops-migrate

mod rules;

use std::path::Path;

use proc_macro::TokenStream;
use quote::quote;

/// Embeds a directory of SQL migrations, checked at compile time; see the
/// [crate docs](crate).
#[proc_macro]
pub fn embed(input: TokenStream) -> TokenStream {
    let (dir, span) = if input.is_empty() {
        ("migrations".to_owned(), proc_macro2::Span::call_site())
    } else {
        let lit = syn::parse_macro_input!(input as syn::LitStr);
        (lit.value(), lit.span())
    };
    match expand(&dir) {
        Ok(tokens) => tokens.into(),
        Err(message) => syn::Error::new(span, message).to_compile_error().into(),
    }
}

fn expand(dir: &str) -> Result<proc_macro2::TokenStream, String> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| {
        "CARGO_MANIFEST_DIR is not set: embed! runs under cargo, which sets it".to_owned()
    })?;
    let path = Path::new(&manifest).join(dir);
    let shown = path.display().to_string();
    let entries = std::fs::read_dir(&path).map_err(|e| {
        format!(
            "cannot read the migrations directory {shown} ({e}); the path is relative to the crate's Cargo.toml"
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {shown} ({e})"))?;
        let file_path = entry.path();
        if !file_path.is_file() {
            continue;
        }
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
            if file_path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
            {
                return Err(format!(
                    "migration file {} has a name that is not UTF-8",
                    file_path.display()
                ));
            }
            continue;
        };
        if matches!(rules::parse_file_name(&file), Ok(None)) {
            continue;
        }
        let bytes = std::fs::read(&file_path)
            .map_err(|e| format!("cannot read {} ({e})", file_path.display()))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            format!(
                "migration file {} is not UTF-8 text; save it as UTF-8",
                file_path.display()
            )
        })?;
        files.push((file, text));
    }
    files.sort();
    rules::assemble(&files).map_err(|problem| format!("{problem} (in {shown})"))?;
    let dir_text = path
        .to_str()
        .ok_or_else(|| format!("the path {shown} is not UTF-8; include_str! needs a UTF-8 path"))?;
    let entries = files.iter().map(|(file, _)| {
        let full = format!("{dir_text}/{file}");
        quote! { (#file, ::core::include_str!(#full)) }
    });
    Ok(quote! {
        ::engine_ops_migrate::source::embedded::migrations(
            #dir_text,
            ::core::cfg!(debug_assertions),
            &[#(#entries),*],
        )
    })
}

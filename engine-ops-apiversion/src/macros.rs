//! Code every middleware service of the crate writes the same way.

/// `get_ref`, `get_mut` and `into_inner` for a service whose wrapped
/// service `S` is its `inner` field (inside its `impl<S>` block).
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

pub(crate) use inner_service_accessors;

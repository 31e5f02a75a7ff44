//! Pure domain types (in progress).

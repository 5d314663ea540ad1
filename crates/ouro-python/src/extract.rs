//! Code extraction (lead).

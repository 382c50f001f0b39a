//! goruntime: knowledge of Go's runtime, read through [`memcache::MemorySource`].

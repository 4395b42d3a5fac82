//! rsync: conformance with the peer (not written yet).

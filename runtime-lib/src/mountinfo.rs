//! /proc/<pid>/mountinfo, the parts more than one module reads: cgroups finds the mounted
//! hierarchies in it, rootfs the mount a rootfs lives on.

/// A mountinfo path field with the kernel's octal escapes (space, tab, newline and
/// backslash) decoded.
pub(crate) fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_the_kernels_escapes() {
        assert_eq!(
            super::unescape("/a\\040b\\011c\\012d\\134e"),
            "/a b\tc\nd\\e"
        );
        assert_eq!(super::unescape("/plain"), "/plain");
    }
}

// Package rpmdb makes an rpm database reproducible after the target's own
// rpm wrote it. rpm before 4.18 (EL7's 4.11, EL8's 4.14) records the
// clock, not SOURCE_DATE_EPOCH, as every package's install time and
// transaction id, and keeps its database in Berkeley DB files, which
// carry a file id made from the inode, the clock and a random number, and
// stale bytes from BDB's buffers wherever a page is not in use. Two
// builds of one lock then differ in every rpmdb file.
//
// Normalize rewrites those fields in place, in the Berkeley DB format
// (hash Packages, btree indexes; dbinc/db_page.h of BDB 5.3), without
// rpm: nothing moves, so what rpm reads stays what it wrote, save the
// times. The target's rpm reading the result, Berkeley DB's db_verify and
// the host's rpm (its read-only BDB backend) are the tests' oracles.
//
//	err := rpmdb.Normalize(filepath.Join(root, "var/lib/rpm"), sourceDateEpoch)
//
// An sqlite rpmdb (rpm 4.16 on) is left alone: it has no file ids or
// stale pages, and rpm 4.18 on takes install times from
// SOURCE_DATE_EPOCH itself.
package rpmdb

package repo

import "strings"

// InPrimary reports whether createrepo puts path into primary.xml as well
// as filelists.xml: paths under /etc/, any path containing "bin/", and
// /usr/lib/sendmail. A file dependency on such a path that no package's
// primary entries satisfy cannot be satisfied by filelists either, so the
// solver need not load them.
func InPrimary(path string) bool {
	return strings.HasPrefix(path, "/etc/") || strings.Contains(path, "bin/") || path == "/usr/lib/sendmail"
}

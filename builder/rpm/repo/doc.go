// Package repo reads yum/dnf repository metadata: repodata/repomd.xml
// (with its detached OpenPGP signature when repo_gpgcheck is on), then
// primary.xml and, only when the solver needs full file lists,
// filelists.xml, compressed with gzip, xz, zstd or bzip2. Metadata files
// are cached by checksum and verified before use. The result is the
// []*Package the solver reasons about.
//
// The XML parsers are streaming and specialised for repodata, several
// times faster than encoding/xml, and bounded against hostile input.
//
//	r, err := repo.Load(ctx, repo.Source{
//		Name:     "baseos",
//		BaseURLs: []string{"https://mirror.stream.centos.org/9-stream/BaseOS/x86_64/os/"},
//	}, repo.Options{CacheDir: "/var/cache/kiln", Arches: []string{"x86_64", "noarch"}})
//	if err != nil {
//		return err
//	}
//	for _, p := range r.Packages {
//		fmt.Println(p.NEVRA())
//	}
package repo

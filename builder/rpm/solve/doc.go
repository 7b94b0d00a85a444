// Package solve resolves the packages a profile asks for into the set dnf
// would install on an empty system, from the packages of the configured
// repositories.
//
// It reproduces libsolv, as dnf drives it (best=True, no vendor checks,
// install_weak_deps from the profile), choice for choice: the same rules
// (requires, conflicts, obsoletes, same-name and inferior-arch rules, best
// rules for each request), the same CDCL search with 1UIP learning, the
// same order of decisions (requests first, then unresolved rules in
// libsolv's rule order, ambiguous ones postponed, then weak dependencies),
// and the same candidate policy (repo priority, best arch, best version per
// name, obsoletes, recommended packages, common-dependency versions).
//
// Where libsolv's answer depends on the order repositories were loaded and
// packages listed in primary.xml, solve uses one canonical order instead
// (repositories by name, packages by name, EVR and arch), so the same input
// always yields the same set.
//
//	res, err := solve.Solve(ctx, solve.Request{
//		Repos:   []solve.Repo{{Source: src, Packages: pkgs}},
//		Install: []string{"kubeadm-1.34.2", "docker-ce-3:27.5.1"},
//		Arch:    "x86_64",
//	})
//	if err != nil {
//		var se *solve.Error // explains why, e.g. "nothing provides libfoo.so.1()(64bit) needed by bar-1.0-1.x86_64"
//		...
//	}
//	for _, p := range res.Packages {
//		fmt.Println(p.NEVRA())
//	}
package solve

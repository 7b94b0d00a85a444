// Package reposource turns a profile's repositories into the sources the
// rpm stages take (mirrors, gpgcheck, priority, excludes and the OpenPGP
// keys to trust), and is the one place that decides where those keys come
// from. Resolving reads them from each repository's gpgkey locations (Load)
// and `kiln lock` records them in the lock (Pin); fetching and building take
// them from the lock only (Locked), so a build needs no key server, and a
// key that changed at its location since locking is refused until the
// profile is locked again.
//
//	srcs, err := reposource.Load(ctx, profile, download.New())  // kiln resolve, kiln lock
//	l.Repos, err = reposource.Pin(srcs)
//	srcs, err = reposource.Locked(ctx, profile, l, reposource.Options{Offline: true}) // kiln fetch, kiln build
package reposource

package build

import (
	"io/fs"
	"testing/fstest"
)

func fsFromMap(t espTree) fs.FS {
	m := fstest.MapFS{}
	for name, data := range t {
		m[name] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	return m
}

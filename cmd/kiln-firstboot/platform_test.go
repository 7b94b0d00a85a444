package main

import (
	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/command"
	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/gce"
	"github.com/kiln-build/kiln/firstboot/platform/vmware"
)

// The agent's small interfaces are the platform package's: every platform
// serves as a metadata source, and the back channels are found.
var (
	_ agent.Platform       = platform.Platform(nil)
	_ agent.StatusReporter = platform.StatusReporter(nil)
	_ agent.SecretScrubber = platform.SecretScrubber(nil)
	_ agent.StatusReporter = (*vmware.Platform)(nil)
	_ agent.SecretScrubber = (*vmware.Platform)(nil)
	_ agent.StatusReporter = (*gce.Platform)(nil)
	_ command.Runner       = command.Runner(nil)
	_ command.Runner       = command.Runner(nil)
)

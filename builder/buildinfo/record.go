package buildinfo

// Record is the part of an image's build record that kiln build bakes into
// the image at RecordPath: only what the inputs decide, so it is reproducible too.
type Record struct {
	Name            string `json:"name"`
	KilnVersion     string `json:"kilnVersion"`
	ProfileDigest   string `json:"profileDigest"`
	LockDigest      string `json:"lockDigest"`
	InputsDigest    string `json:"inputsDigest"`
	SourceDateEpoch int64  `json:"sourceDateEpoch"`
	Kernel          string `json:"kernel"`
	RootUUID        string `json:"rootUUID"`
	ESPUUID         string `json:"espUUID"`
	DiskGUID        string `json:"diskGUID"`
	DiskSize        int64  `json:"diskSize"`
	Firmware        string `json:"firmware"`
	Packages        int    `json:"packages"`
}

// RecordPath is where a kiln image carries its Record (kiln inspect reads it).
const RecordPath = "/usr/lib/kiln/build.json"

module github.com/kiln-build/kiln

go 1.26

require (
	github.com/ProtonMail/go-crypto v1.3.0
	github.com/diskfs/go-diskfs v1.8.0
	github.com/google/rpmpack v0.7.1
	github.com/klauspost/compress v1.18.0
	github.com/spf13/cobra v1.10.1
	github.com/ulikunitz/xz v0.5.15
	golang.org/x/sys v0.39.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/cavaliergopher/cpio v1.0.1 // indirect
	github.com/cloudflare/circl v1.6.0 // indirect
	github.com/google/uuid v1.3.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/klauspost/pgzip v1.2.6 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/crypto v0.33.0 // indirect
)

module github.com/kiln-build/kiln

go 1.26

require (
	github.com/ProtonMail/go-crypto v1.3.0
	github.com/spf13/cobra v1.10.1
)

require (
	github.com/cloudflare/circl v1.6.0 // indirect
	github.com/dsnet/compress v0.0.1 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/klauspost/compress v1.18.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	github.com/ulikunitz/xz v0.5.17 // indirect
	golang.org/x/crypto v0.33.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
)

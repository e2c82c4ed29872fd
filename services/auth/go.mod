module github.com/parleyhq/parley/services/auth

go 1.26.0

replace (
	github.com/parleyhq/parley/contracts => ../../contracts
	github.com/parleyhq/parley/platform => ../../platform
)

require (
	github.com/goccy/go-json v0.10.6 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/lestrrat-go/jwx/v2 v2.1.7 // indirect
	github.com/lestrrat-go/option v1.0.1 // indirect
	github.com/segmentio/asm v1.2.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

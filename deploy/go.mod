module github.com/parleyhq/parley/deploy

go 1.26.7

require (
	connectrpc.com/connect v1.21.1
	github.com/google/go-containerregistry v0.22.1
	github.com/google/uuid v1.6.0
	github.com/parleyhq/parley/contracts v0.0.0-00010101000000-000000000000
	github.com/parleyhq/parley/devstack v0.0.0-00010101000000-000000000000
	go.yaml.in/yaml/v3 v3.0.5
	golang.org/x/crypto/x509roots/fallback v0.0.0-20261030153154-30a33513ff6d
)

require (
	github.com/coder/websocket v1.8.14 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	golang.org/x/sync v0.24.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The workspace's modules, for the podman test's clients and balancer (deploy/ is outside go.work).
replace (
	github.com/parleyhq/parley/contracts => ../contracts
	github.com/parleyhq/parley/devstack => ../devstack
	github.com/parleyhq/parley/platform => ../platform
)

module github.com/kwalk/kwalk

go 1.26.8

require (
	github.com/anchore/go-lzo v0.1.1 // indirect
	github.com/chzyer/readline v1.5.1 // indirect
	github.com/cilium/ebpf v0.22.0 // indirect
	github.com/go-delve/delve v1.27.2 // indirect
	github.com/golang/snappy v1.0.0 // indirect
	github.com/hanwen/go-fuse/v2 v2.12.1 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/traefik/yaegi v0.16.1 // indirect
	golang.org/x/arch v0.32.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

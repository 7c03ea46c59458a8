module github.com/kwalk/kwalk

go 1.26.0

require (
	github.com/anchore/go-lzo v0.1.1
	github.com/chzyer/readline v1.5.1
	github.com/cilium/ebpf v0.22.0
	github.com/go-delve/delve v1.27.2
	github.com/golang/snappy v1.0.0
	github.com/hanwen/go-fuse/v2 v2.12.1
	github.com/klauspost/compress v1.20.3
	github.com/traefik/yaegi v0.16.1
	golang.org/x/arch v0.32.0
	golang.org/x/sys v0.49.0
)

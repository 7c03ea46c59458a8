package fuse

import "fmt"

// fuseOpcodes are enum fuse_opcode (include/uapi/linux/fuse.h; the values
// never change, new kernels only add).
var fuseOpcodes = map[uint32]string{
	1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 5: "READLINK",
	6: "SYMLINK", 8: "MKNOD", 9: "MKDIR", 10: "UNLINK", 11: "RMDIR",
	12: "RENAME", 13: "LINK", 14: "OPEN", 15: "READ", 16: "WRITE",
	17: "STATFS", 18: "RELEASE", 20: "FSYNC", 21: "SETXATTR", 22: "GETXATTR",
	23: "LISTXATTR", 24: "REMOVEXATTR", 25: "FLUSH", 26: "INIT", 27: "OPENDIR",
	28: "READDIR", 29: "RELEASEDIR", 30: "FSYNCDIR", 31: "GETLK", 32: "SETLK",
	33: "SETLKW", 34: "ACCESS", 35: "CREATE", 36: "INTERRUPT", 37: "BMAP",
	38: "DESTROY", 39: "IOCTL", 40: "POLL", 41: "NOTIFY_REPLY", 42: "BATCH_FORGET",
	43: "FALLOCATE", 44: "READDIRPLUS", 45: "RENAME2", 46: "LSEEK",
	47: "COPY_FILE_RANGE", 48: "SETUPMAPPING", 49: "REMOVEMAPPING", 50: "SYNCFS",
	51: "TMPFILE", 52: "STATX", 53: "COPY_FILE_RANGE_64", 4096: "CUSE_INIT",
}

// FuseOpcodeName names a FUSE opcode ("WRITE"), or "OP_<n>" when unknown.
func FuseOpcodeName(op uint32) string {
	if n, ok := fuseOpcodes[op]; ok {
		return n
	}
	return fmt.Sprintf("OP_%d", op)
}

// fuseReqFlags are enum fuse_req_flag bit numbers (fs/fuse/fuse_i.h; bits
// 0-11 identical 5.10 through 7.1, FR_URING from 6.14).
var fuseReqFlags = []string{
	"FR_ISREPLY", "FR_FORCE", "FR_BACKGROUND", "FR_WAITING", "FR_ABORTED",
	"FR_INTERRUPTED", "FR_LOCKED", "FR_PENDING", "FR_SENT", "FR_FINISHED",
	"FR_PRIVATE", "FR_ASYNC", "FR_URING",
}

// FuseReqFlagNames decodes fuse_req.flags.
func FuseReqFlagNames(flags uint64) []string {
	var out []string
	for i := 0; i < 64; i++ {
		if flags&(1<<i) == 0 {
			continue
		}
		if i < len(fuseReqFlags) {
			out = append(out, fuseReqFlags[i])
		} else {
			out = append(out, fmt.Sprintf("bit%d", i))
		}
	}
	return out
}

// Request flag bits used by the analysis.
const (
	frForce    = 1 << 1
	frPending  = 1 << 7
	frSent     = 1 << 8
	frFinished = 1 << 9
)

package unwind

// ArgKind says how a syscall argument is rendered.
type ArgKind uint8

const (
	ArgInt       ArgKind = iota // signed int (32-bit)
	ArgLong                     // signed long
	ArgUint                     // unsigned, decimal
	ArgHex                      // pointer or opaque value, hex
	ArgFD                       // file descriptor: rendered with its path
	ArgDirFD                    // directory fd of the *at calls: AT_FDCWD or an fd
	ArgPath                     // user pointer to a path string
	ArgString                   // user pointer to another string
	ArgOpenFlags                // O_* flags
	ArgMode                     // permission bits, octal
	ArgAtFlags                  // AT_* flags
	ArgSignal                   // signal number
	ArgFutexOp                  // futex operation
)

type argSpec struct {
	name string
	kind ArgKind
}

func a(name string, k ArgKind) argSpec { return argSpec{name, k} }

// syscallProtos are the prototypes of common syscalls
// (include/linux/syscalls.h), by name without the sys_ prefix. Calls not
// listed show their six argument registers in hex.
var syscallProtos = map[string][]argSpec{
	"read":              {a("fd", ArgFD), a("buf", ArgHex), a("count", ArgUint)},
	"write":             {a("fd", ArgFD), a("buf", ArgHex), a("count", ArgUint)},
	"pread64":           {a("fd", ArgFD), a("buf", ArgHex), a("count", ArgUint), a("pos", ArgLong)},
	"pwrite64":          {a("fd", ArgFD), a("buf", ArgHex), a("count", ArgUint), a("pos", ArgLong)},
	"readv":             {a("fd", ArgFD), a("vec", ArgHex), a("vlen", ArgUint)},
	"writev":            {a("fd", ArgFD), a("vec", ArgHex), a("vlen", ArgUint)},
	"preadv":            {a("fd", ArgFD), a("vec", ArgHex), a("vlen", ArgUint), a("pos_l", ArgLong), a("pos_h", ArgLong)},
	"pwritev":           {a("fd", ArgFD), a("vec", ArgHex), a("vlen", ArgUint), a("pos_l", ArgLong), a("pos_h", ArgLong)},
	"open":              {a("filename", ArgPath), a("flags", ArgOpenFlags), a("mode", ArgMode)},
	"openat":            {a("dfd", ArgDirFD), a("filename", ArgPath), a("flags", ArgOpenFlags), a("mode", ArgMode)},
	"openat2":           {a("dfd", ArgDirFD), a("filename", ArgPath), a("how", ArgHex), a("size", ArgUint)},
	"creat":             {a("pathname", ArgPath), a("mode", ArgMode)},
	"close":             {a("fd", ArgFD)},
	"unlink":            {a("pathname", ArgPath)},
	"unlinkat":          {a("dfd", ArgDirFD), a("pathname", ArgPath), a("flag", ArgAtFlags)},
	"rename":            {a("oldname", ArgPath), a("newname", ArgPath)},
	"renameat":          {a("olddfd", ArgDirFD), a("oldname", ArgPath), a("newdfd", ArgDirFD), a("newname", ArgPath)},
	"renameat2":         {a("olddfd", ArgDirFD), a("oldname", ArgPath), a("newdfd", ArgDirFD), a("newname", ArgPath), a("flags", ArgHex)},
	"link":              {a("oldname", ArgPath), a("newname", ArgPath)},
	"linkat":            {a("olddfd", ArgDirFD), a("oldname", ArgPath), a("newdfd", ArgDirFD), a("newname", ArgPath), a("flags", ArgAtFlags)},
	"symlink":           {a("old", ArgPath), a("new", ArgPath)},
	"symlinkat":         {a("oldname", ArgPath), a("newdfd", ArgDirFD), a("newname", ArgPath)},
	"readlink":          {a("path", ArgPath), a("buf", ArgHex), a("bufsiz", ArgInt)},
	"readlinkat":        {a("dfd", ArgDirFD), a("path", ArgPath), a("buf", ArgHex), a("bufsiz", ArgInt)},
	"truncate":          {a("path", ArgPath), a("length", ArgLong)},
	"ftruncate":         {a("fd", ArgFD), a("length", ArgLong)},
	"fallocate":         {a("fd", ArgFD), a("mode", ArgHex), a("offset", ArgLong), a("len", ArgLong)},
	"fsync":             {a("fd", ArgFD)},
	"fdatasync":         {a("fd", ArgFD)},
	"syncfs":            {a("fd", ArgFD)},
	"sync_file_range":   {a("fd", ArgFD), a("offset", ArgLong), a("nbytes", ArgLong), a("flags", ArgHex)},
	"mkdir":             {a("pathname", ArgPath), a("mode", ArgMode)},
	"mkdirat":           {a("dfd", ArgDirFD), a("pathname", ArgPath), a("mode", ArgMode)},
	"rmdir":             {a("pathname", ArgPath)},
	"mknodat":           {a("dfd", ArgDirFD), a("filename", ArgPath), a("mode", ArgMode), a("dev", ArgHex)},
	"chdir":             {a("filename", ArgPath)},
	"fchdir":            {a("fd", ArgFD)},
	"chmod":             {a("filename", ArgPath), a("mode", ArgMode)},
	"fchmod":            {a("fd", ArgFD), a("mode", ArgMode)},
	"fchmodat":          {a("dfd", ArgDirFD), a("filename", ArgPath), a("mode", ArgMode)},
	"chown":             {a("filename", ArgPath), a("user", ArgInt), a("group", ArgInt)},
	"fchown":            {a("fd", ArgFD), a("user", ArgInt), a("group", ArgInt)},
	"fchownat":          {a("dfd", ArgDirFD), a("filename", ArgPath), a("user", ArgInt), a("group", ArgInt), a("flag", ArgAtFlags)},
	"access":            {a("filename", ArgPath), a("mode", ArgMode)},
	"faccessat":         {a("dfd", ArgDirFD), a("filename", ArgPath), a("mode", ArgMode)},
	"faccessat2":        {a("dfd", ArgDirFD), a("filename", ArgPath), a("mode", ArgMode), a("flags", ArgAtFlags)},
	"utimensat":         {a("dfd", ArgDirFD), a("filename", ArgPath), a("utimes", ArgHex), a("flags", ArgAtFlags)},
	"futimesat":         {a("dfd", ArgDirFD), a("filename", ArgPath), a("utimes", ArgHex)},
	"utime":             {a("filename", ArgPath), a("times", ArgHex)},
	"utimes":            {a("filename", ArgPath), a("utimes", ArgHex)},
	"stat":              {a("filename", ArgPath), a("statbuf", ArgHex)},
	"lstat":             {a("filename", ArgPath), a("statbuf", ArgHex)},
	"fstat":             {a("fd", ArgFD), a("statbuf", ArgHex)},
	"newstat":           {a("filename", ArgPath), a("statbuf", ArgHex)},
	"newlstat":          {a("filename", ArgPath), a("statbuf", ArgHex)},
	"newfstat":          {a("fd", ArgFD), a("statbuf", ArgHex)},
	"newfstatat":        {a("dfd", ArgDirFD), a("filename", ArgPath), a("statbuf", ArgHex), a("flag", ArgAtFlags)},
	"statx":             {a("dfd", ArgDirFD), a("filename", ArgPath), a("flags", ArgAtFlags), a("mask", ArgHex), a("buffer", ArgHex)},
	"statfs":            {a("pathname", ArgPath), a("buf", ArgHex)},
	"fstatfs":           {a("fd", ArgFD), a("buf", ArgHex)},
	"getdents64":        {a("fd", ArgFD), a("dirent", ArgHex), a("count", ArgUint)},
	"getdents":          {a("fd", ArgFD), a("dirent", ArgHex), a("count", ArgUint)},
	"lseek":             {a("fd", ArgFD), a("offset", ArgLong), a("whence", ArgUint)},
	"ioctl":             {a("fd", ArgFD), a("cmd", ArgHex), a("arg", ArgHex)},
	"fcntl":             {a("fd", ArgFD), a("cmd", ArgUint), a("arg", ArgHex)},
	"flock":             {a("fd", ArgFD), a("cmd", ArgUint)},
	"dup":               {a("fildes", ArgFD)},
	"dup2":              {a("oldfd", ArgFD), a("newfd", ArgInt)},
	"dup3":              {a("oldfd", ArgFD), a("newfd", ArgInt), a("flags", ArgOpenFlags)},
	"sendfile64":        {a("out_fd", ArgFD), a("in_fd", ArgFD), a("offset", ArgHex), a("count", ArgUint)},
	"splice":            {a("fd_in", ArgFD), a("off_in", ArgHex), a("fd_out", ArgFD), a("off_out", ArgHex), a("len", ArgUint), a("flags", ArgHex)},
	"tee":               {a("fdin", ArgFD), a("fdout", ArgFD), a("len", ArgUint), a("flags", ArgHex)},
	"copy_file_range":   {a("fd_in", ArgFD), a("off_in", ArgHex), a("fd_out", ArgFD), a("off_out", ArgHex), a("len", ArgUint), a("flags", ArgHex)},
	"mount":             {a("dev_name", ArgString), a("dir_name", ArgPath), a("type", ArgString), a("flags", ArgHex), a("data", ArgHex)},
	"umount":            {a("name", ArgPath), a("flags", ArgHex)},
	"wait4":             {a("upid", ArgInt), a("stat_addr", ArgHex), a("options", ArgHex), a("ru", ArgHex)},
	"waitid":            {a("which", ArgInt), a("upid", ArgInt), a("infop", ArgHex), a("options", ArgHex), a("ru", ArgHex)},
	"futex":             {a("uaddr", ArgHex), a("op", ArgFutexOp), a("val", ArgUint), a("utime", ArgHex), a("uaddr2", ArgHex), a("val3", ArgUint)},
	"nanosleep":         {a("rqtp", ArgHex), a("rmtp", ArgHex)},
	"clock_nanosleep":   {a("which_clock", ArgInt), a("flags", ArgHex), a("rqtp", ArgHex), a("rmtp", ArgHex)},
	"epoll_wait":        {a("epfd", ArgFD), a("events", ArgHex), a("maxevents", ArgInt), a("timeout", ArgInt)},
	"epoll_pwait":       {a("epfd", ArgFD), a("events", ArgHex), a("maxevents", ArgInt), a("timeout", ArgInt), a("sigmask", ArgHex), a("sigsetsize", ArgUint)},
	"epoll_pwait2":      {a("epfd", ArgFD), a("events", ArgHex), a("maxevents", ArgInt), a("timeout", ArgHex), a("sigmask", ArgHex), a("sigsetsize", ArgUint)},
	"epoll_ctl":         {a("epfd", ArgFD), a("op", ArgInt), a("fd", ArgFD), a("event", ArgHex)},
	"poll":              {a("ufds", ArgHex), a("nfds", ArgUint), a("timeout_msecs", ArgInt)},
	"ppoll":             {a("ufds", ArgHex), a("nfds", ArgUint), a("tsp", ArgHex), a("sigmask", ArgHex), a("sigsetsize", ArgUint)},
	"select":            {a("n", ArgInt), a("inp", ArgHex), a("outp", ArgHex), a("exp", ArgHex), a("tvp", ArgHex)},
	"pselect6":          {a("n", ArgInt), a("inp", ArgHex), a("outp", ArgHex), a("exp", ArgHex), a("tsp", ArgHex), a("sig", ArgHex)},
	"pause":             {},
	"clone":             {a("clone_flags", ArgHex), a("newsp", ArgHex), a("parent_tidptr", ArgHex), a("child_tidptr", ArgHex), a("tls", ArgHex)},
	"clone3":            {a("uargs", ArgHex), a("size", ArgUint)},
	"fork":              {},
	"vfork":             {},
	"execve":            {a("filename", ArgPath), a("argv", ArgHex), a("envp", ArgHex)},
	"execveat":          {a("fd", ArgDirFD), a("filename", ArgPath), a("argv", ArgHex), a("envp", ArgHex), a("flags", ArgAtFlags)},
	"exit":              {a("error_code", ArgInt)},
	"exit_group":        {a("error_code", ArgInt)},
	"kill":              {a("pid", ArgInt), a("sig", ArgSignal)},
	"tkill":             {a("pid", ArgInt), a("sig", ArgSignal)},
	"tgkill":            {a("tgid", ArgInt), a("pid", ArgInt), a("sig", ArgSignal)},
	"rt_sigsuspend":     {a("unewset", ArgHex), a("sigsetsize", ArgUint)},
	"rt_sigtimedwait":   {a("uthese", ArgHex), a("uinfo", ArgHex), a("uts", ArgHex), a("sigsetsize", ArgUint)},
	"accept":            {a("fd", ArgFD), a("upeer_sockaddr", ArgHex), a("upeer_addrlen", ArgHex)},
	"accept4":           {a("fd", ArgFD), a("upeer_sockaddr", ArgHex), a("upeer_addrlen", ArgHex), a("flags", ArgHex)},
	"connect":           {a("fd", ArgFD), a("uservaddr", ArgHex), a("addrlen", ArgInt)},
	"recvfrom":          {a("fd", ArgFD), a("ubuf", ArgHex), a("size", ArgUint), a("flags", ArgHex), a("addr", ArgHex), a("addr_len", ArgHex)},
	"sendto":            {a("fd", ArgFD), a("buff", ArgHex), a("len", ArgUint), a("flags", ArgHex), a("addr", ArgHex), a("addr_len", ArgInt)},
	"recvmsg":           {a("fd", ArgFD), a("msg", ArgHex), a("flags", ArgHex)},
	"sendmsg":           {a("fd", ArgFD), a("msg", ArgHex), a("flags", ArgHex)},
	"mmap":              {a("addr", ArgHex), a("len", ArgUint), a("prot", ArgHex), a("flags", ArgHex), a("fd", ArgFD), a("off", ArgHex)},
	"munmap":            {a("addr", ArgHex), a("len", ArgUint)},
	"msync":             {a("start", ArgHex), a("len", ArgUint), a("flags", ArgHex)},
	"io_getevents":      {a("ctx_id", ArgHex), a("min_nr", ArgLong), a("nr", ArgLong), a("events", ArgHex), a("timeout", ArgHex)},
	"io_uring_enter":    {a("fd", ArgFD), a("to_submit", ArgUint), a("min_complete", ArgUint), a("flags", ArgHex), a("argp", ArgHex), a("argsz", ArgUint)},
	"sync":              {},
	"setns":             {a("fd", ArgFD), a("flags", ArgHex)},
	"unshare":           {a("unshare_flags", ArgHex)},
	"umount2":           {a("name", ArgPath), a("flags", ArgHex)},
	"pivot_root":        {a("new_root", ArgPath), a("put_old", ArgPath)},
	"chroot":            {a("filename", ArgPath)},
	"acct":              {a("name", ArgPath)},
	"swapon":            {a("specialfile", ArgPath), a("swap_flags", ArgHex)},
	"swapoff":           {a("specialfile", ArgPath)},
	"quotactl":          {a("cmd", ArgHex), a("special", ArgPath), a("id", ArgInt), a("addr", ArgHex)},
	"name_to_handle_at": {a("dfd", ArgDirFD), a("name", ArgPath), a("handle", ArgHex), a("mnt_id", ArgHex), a("flag", ArgAtFlags)},
	"getxattr":          {a("pathname", ArgPath), a("name", ArgString), a("value", ArgHex), a("size", ArgUint)},
	"lgetxattr":         {a("pathname", ArgPath), a("name", ArgString), a("value", ArgHex), a("size", ArgUint)},
	"fgetxattr":         {a("fd", ArgFD), a("name", ArgString), a("value", ArgHex), a("size", ArgUint)},
	"setxattr":          {a("pathname", ArgPath), a("name", ArgString), a("value", ArgHex), a("size", ArgUint), a("flags", ArgHex)},
	"fsetxattr":         {a("fd", ArgFD), a("name", ArgString), a("value", ArgHex), a("size", ArgUint), a("flags", ArgHex)},
	"inotify_add_watch": {a("fd", ArgFD), a("pathname", ArgPath), a("mask", ArgHex)},
	"fanotify_mark":     {a("fanotify_fd", ArgFD), a("flags", ArgHex), a("mask", ArgHex), a("dfd", ArgDirFD), a("pathname", ArgPath)},
}

// Open flags (include/uapi/asm-generic/fcntl.h; x86 uses the generic
// values). O_ACCMODE is decoded first.
var openFlagNames = []struct {
	bit  uint64
	name string
}{
	{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"},
	{0o2000, "O_APPEND"}, {0o4000, "O_NONBLOCK"}, {0o10000, "O_DSYNC"}, {0o20000, "O_ASYNC"},
	{0o40000, "O_DIRECT"}, {0o100000, "O_LARGEFILE"}, {0o200000, "O_DIRECTORY"},
	{0o400000, "O_NOFOLLOW"}, {0o1000000, "O_NOATIME"}, {0o2000000, "O_CLOEXEC"},
	{0o4000000 | 0o10000, "O_SYNC"}, {0o10000000, "O_PATH"}, {0o20000000 | 0o200000, "O_TMPFILE"},
}

// AT_* flags (include/uapi/linux/fcntl.h).
var atFlagNames = []struct {
	bit  uint64
	name string
}{
	{0x100, "AT_SYMLINK_NOFOLLOW"}, {0x200, "AT_REMOVEDIR"}, {0x400, "AT_SYMLINK_FOLLOW"},
	{0x800, "AT_NO_AUTOMOUNT"}, {0x1000, "AT_EMPTY_PATH"},
}

// atFDCWD is AT_FDCWD (include/uapi/linux/fcntl.h).
const atFDCWD = -100

// futexOpNames (include/uapi/linux/futex.h), low 7 bits of op.
var futexOpNames = map[uint64]string{
	0: "FUTEX_WAIT", 1: "FUTEX_WAKE", 2: "FUTEX_FD", 3: "FUTEX_REQUEUE", 4: "FUTEX_CMP_REQUEUE",
	5: "FUTEX_WAKE_OP", 6: "FUTEX_LOCK_PI", 7: "FUTEX_UNLOCK_PI", 8: "FUTEX_TRYLOCK_PI",
	9: "FUTEX_WAIT_BITSET", 10: "FUTEX_WAKE_BITSET", 11: "FUTEX_WAIT_REQUEUE_PI",
	12: "FUTEX_CMP_REQUEUE_PI", 13: "FUTEX_LOCK_PI2",
}

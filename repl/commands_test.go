package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/repl/internal/synth"
	"github.com/kwalk/kwalk/symbols"
)

// TestCommandsText runs each core command on the synthetic kernel and
// checks its text output and exit status.
func TestCommandsText(t *testing.T) {
	tests := []struct {
		line   string
		status int
		want   []string // substrings of stdout
		not    []string
	}{
		{"p jiffies", ExitOK, []string{fmt.Sprintf("jiffies = %d", uint64(synth.Jiffies))}, nil},
		{"p -x jiffies", ExitOK, []string{fmt.Sprintf("jiffies = %#x", uint64(synth.Jiffies))}, nil},
		{"p &jiffies", ExitOK, []string{fmt.Sprintf("&jiffies = %#x", uint64(synth.JiffiesAddr))}, nil},
		{"p init_task.comm", ExitOK, []string{`init_task.comm = "swapper/0"`}, nil},
		{"p init_task->se.vruntime", ExitOK, []string{"init_task->se.vruntime = 1000"}, nil},
		{"p init_task.parent->comm", ExitOK, []string{`= "swapper/0"`}, nil},
		{"p init_task.nosuch", ExitFailed, nil, nil},
		{"p nosuchsym", ExitFailed, nil, nil},
		{"p ((struct task_struct *)0xffff888000101000)->comm", ExitOK, []string{`= "hangfs"`}, nil},
		{"p ((struct task_struct *)ffff888000101000)->pid", ExitOK, []string{"= 42"}, nil},
		{"p (struct task_struct *)0xffff888000101000", ExitOK, []string{"= 0xffff888000101000"}, nil},
		{"p *(struct task_struct *)0xffff888000101000", ExitOK, []string{"0xffff888000101000 = {", `comm = "hangfs"`}, []string{"= 0xffff888000101000\n"}},
		{"p (struct list_head)0xffff888000100010", ExitOK, []string{"next = 0xffff888000101010"}, nil},
		{"p *init_task.tasks.next", ExitOK, []string{"next = 0xffff888000101010"}, nil},
		{"p init_task.tasks.next->next->prev", ExitOK, []string{"= 0xffff888000100010"}, nil},
		{"p &init_task.comm", ExitOK, []string{"&init_task.comm = 0xffffffff82a0c040"}, nil},
		{"p (init_task).pid", ExitOK, []string{"(init_task).pid = 0"}, nil},
		{"p 0x10", ExitUsage, nil, nil},
		{"p init_task.", ExitUsage, nil, nil},
		{"p (struct task_struct *", ExitUsage, nil, nil},
		{"p init_task @", ExitUsage, nil, nil},
		{"p", ExitUsage, nil, nil},
		{"sym do_exit", ExitOK, []string{"ffffffff81000100 (T) do_exit"}, nil},
		{"sym ffffffff81000104", ExitOK, []string{"ffffffff81000104 (T) do_exit+4"}, nil},
		{"sym do_exit+4", ExitOK, []string{"do_exit+4"}, nil},
		{"sym -q sched", ExitOK, []string{"schedule"}, []string{"do_exit"}},
		{"sym -l", ExitOK, []string{"_stext", "init_task", "jiffies"}, nil},
		{"sym 1", ExitFailed, nil, nil},
		{"rd jiffies", ExitOK, []string{fmt.Sprintf("ffffffff82a00000:  %016x", uint64(synth.Jiffies))}, nil},
		{"rd -32 jiffies 2", ExitOK, []string{fmt.Sprintf("%08x %08x", uint64(synth.Jiffies)&0xffffffff, uint64(synth.Jiffies)>>32)}, nil},
		{"rd -8 init_task+0x40 4", ExitOK, []string{"73 77 61 70", "swap"}, nil},
		{"rd -a linux_banner", ExitOK, []string{"Linux version 6.1.0-synthetic"}, nil},
		{"rd -s init_task+0x50 2", ExitOK, []string{"do_exit"}, nil},
		{"rd -S init_task+0x50 2", ExitOK, []string{"do_exit"}, nil},
		{"rd -N -32 jiffies 2", ExitOK, []string{fmt.Sprintf("%08x %08x", bswap32(uint32(uint64(synth.Jiffies)&0xffffffff)), bswap32(uint32(uint64(synth.Jiffies)>>32)))}, nil},
		{"rd -8 -o 0x40 init_task 4", ExitOK, []string{"ffffffff82a0c040:  73 77 61 70"}, nil},
		{"rd -8 -e init_task+0x44 init_task+0x40", ExitOK, []string{"73 77 61 70 "}, []string{"73 77 61 70 70"}},
		{"rd -e init_task init_task+0x40", ExitUsage, nil, nil},
		{"rd -p -u 0x1000", ExitUsage, nil, nil},
		{"rd -e init_task+8 init_task 4", ExitUsage, nil, nil},
		{"rd -p 100000 1", ExitOK, []string{"100000:  0000000100000001"}, nil},
		{"rd 10", ExitFailed, nil, nil},
		{"rd linux_banner 600", ExitOK, []string{"rd: stopped: read virtual address 0xffffffff82a03000"}, nil},
		{"rd", ExitUsage, nil, nil},
		{"rd init_task.comm", ExitOK, []string{"ffffffff82a0c040:  2f72657070617773"}, nil},
		{"rd init_task->se.vruntime+8", ExitOK, []string{"ffffffff82a0c028:  "}, nil},
		{"rd -8 init_task.comm-0x40", ExitOK, []string{"ffffffff82a0c000:  00"}, nil},
		{"rd jiffies x", ExitUsage, nil, nil},
		{"struct list_head", ExitOK, []string{"struct list_head {", "struct list_head *next;", "SIZE: 16"}, nil},
		{"struct -o task_struct", ExitOK, []string{"[0x40] char comm[16];", "union {", "[0x60] u64 anon_a;", "unsigned int bits : 3;"}, nil},
		{"struct task_struct.se", ExitOK, []string{"struct sched_entity se;", "u64 vruntime;"}, nil},
		{"struct -o task_struct.comm", ExitOK, []string{"[0x40] char comm[16];"}, nil},
		{"struct task_struct init_task", ExitOK, []string{"struct task_struct {", `comm = "swapper/0",`, "fn = 0xffffffff81000100 <do_exit>,", "flag = false,", "demo = DEMO_OFF,", "bits = 5,", "anon_a = 0,", "parent = 0xffffffff82a0c000 <init_task>"}, nil},
		{"struct task_struct.comm,pid,se.vruntime ffff888000100000", ExitOK, []string{`comm = "init",`, "pid = 1,", "se.vruntime = 2000,"}, []string{"__state"}},
		{"struct task_struct.pid ffff888000100000 2", ExitOK, []string{"pid = 1,\n  pid = 0,"}, nil},
		{"struct list_head.next init_task+0x10 -2", ExitOK, []string{"next = 0xffff888000100010", "next = 0x0"}, nil},
		{"struct task_struct.mm->total_vm ffff888000100000", ExitOK, []string{"mm->total_vm = 1234"}, nil},
		{"struct nosuch", ExitFailed, nil, nil},
		{"struct task_struct 10", ExitFailed, nil, nil},
		{"union task_struct", ExitOK, []string{"struct task_struct {"}, nil},
		{"whatis init_task", ExitOK, []string{"struct task_struct init_task;"}, nil},
		{"whatis jiffies", ExitOK, []string{"long unsigned int jiffies;"}, nil},
		{"whatis u64", ExitOK, []string{"typedef long long unsigned int u64;"}, nil},
		{"whatis demo_state", ExitOK, []string{"DEMO_ON = 1,"}, nil},
		{"whatis init_task.se", ExitOK, []string{"struct sched_entity se;", "SIZE: 16"}, nil},
		{"whatis init_task->parent", ExitOK, []string{"struct task_struct *parent;", "SIZE: 8"}, nil},
		{"whatis do_exit", ExitOK, []string{"do_exit: T symbol at 0xffffffff81000100"}, nil},
		{"dis do_exit", ExitOK, []string{"<do_exit>:", "push", "call", "<schedule>", "ret"}, nil},
		{"dis -i do_exit 2", ExitOK, []string{"push rbp", "mov rbp, rsp"}, []string{"ret"}},
		{"dis -r do_exit+4", ExitOK, []string{"<do_exit>:", "<do_exit+0x4>:"}, []string{"pop"}},
		{"dis -b do_exit 1", ExitOK, []string{"55"}, nil},
		{"dis ibt_func", ExitOK, []string{"<ibt_func>:     endbr64", "<ibt_func+0x4>: ret"}, []string{"bad"}},
		{"mod", ExitOK, []string{"demo_mod"}, nil},
		{"search -s init_task -e init_task+0x100 init_task", ExitOK, []string{"ffffffff82a0c070: ffffffff82a0c000  (init_task+0x70)"}, nil},
		{"search -s init_task -e init_task+0x100 -m 0xfff init_task+0x123", ExitOK, []string{"ffffffff82a0c070: ffffffff82a0c000"}, nil},
		{"search -s init_task -e init_task+0x100 -c 1 0", ExitOK, []string{"ffffffff82a0c000: 0"}, []string{"stopped at the hit limit"}}, // on stderr
		{"search -s jiffies -e jiffies+0x3000 0x1", ExitOK, nil, []string{"ffffffff82a03"}},
		{"search init_task", ExitFailed, nil, nil},                 // no max_pfn, no dump
		{"search -s 0 -e ffffffffffffffff 1", ExitUsage, nil, nil}, // no page tables: bounded
		{"search -s init_task init_task", ExitUsage, nil, nil},
		{"vtop init_task", ExitFailed, nil, nil}, // no dump: no page tables
		{"ptov 1000", ExitFailed, nil, nil},      // no page_offset_base
		{"list -H -o task_struct.tasks -s task_struct.comm,pid init_task.tasks", ExitOK, []string{"ffff888000100000\n  comm = \"init\",\n  pid = 1,", "ffff888000101000\n  comm = \"hangfs\""}, []string{"swapper", "stopped"}},
		{"list -o task_struct.tasks init_task", ExitOK, []string{"ffffffff82a0c000\nffff888000100000\nffff888000101000\n"}, []string{"stopped"}},
		{"list -o 16 init_task -c 2", ExitOK, []string{"ffffffff82a0c000\nffff888000100000\n"}, []string{"ffff888000101000"}},
		{"list -H -o module.list -s module.name modules", ExitOK, []string{`name = "demo_mod"`}, nil},
		{"list jiffies", ExitOK, []string{"ffffffff82a00000\n100007fc0\n"}, []string{"list: stopped"}}, // the stop is said on stderr
		{"list -o nosuch.member init_task", ExitFailed, nil, nil},
		{"list -o tasks init_task", ExitUsage, nil, nil},
		{"list -h -o task_struct.tasks ffffffff82a0c010", ExitOK, []string{"ffffffff82a0c000\nffff888000100000\nffff888000101000\n"}, nil},
		{"list -h -o 0 -l task_struct.tasks ffffffff82a0c010", ExitOK, []string{"ffffffff82a0c000\nffff888000100000\nffff888000101000\n"}, nil},
		{"list -H -r -o task_struct.tasks init_task.tasks", ExitOK, []string{"ffff888000101000\nffff888000100000\n"}, nil},
		{"list -o task_struct.tasks -e ffff888000101000 init_task", ExitOK, []string{"ffffffff82a0c000\nffff888000100000\n"}, []string{"ffff888000101000"}},
		{"list -H -o task_struct.tasks -S task_struct.pid init_task.tasks", ExitOK, []string{"pid = 1,"}, nil},
		{"list -H -h init_task.tasks", ExitUsage, nil, nil},
		{"mod nosuch", ExitOK, nil, []string{"demo_mod"}},
		{"set", ExitFailed, nil, nil},
		{"set 42", ExitOK, []string{"PID: 42", `COMMAND: "hangfs"`, "TASK_UNINTERRUPTIBLE"}, nil},
		{"set ffff888000100000", ExitOK, []string{"PID: 1", `"init"`}, nil},
		{"set 999", ExitFailed, nil, nil},
		{"task -R pid 1", ExitOK, []string{"pid = 1,"}, nil},
		{"foreach UN task -R comm", ExitOK, []string{`PID: 42`, `comm = "hangfs"`}, []string{`"init"`}},
		{"foreach init 42 task -R pid", ExitOK, []string{"pid = 1,", "pid = 42,"}, []string{"pid = 0,"}},
		{"foreach 'swap*' task -R pid", ExitOK, []string{"pid = 0,"}, []string{"pid = 1,"}},
		{"foreach kernel task -R pid", ExitOK, []string{"pid = 0,"}, []string{"pid = 42,"}},
		{"foreach ps", ExitUsage, nil, nil},
		{"sys", ExitOK, []string{"SYMBOLS: synthetic", "TYPES: synthetic", "TASKS: 3", "BLOCKED: 1 in uninterruptible sleep"}, nil},
		{"eval 0x1000 + 16", ExitOK, []string{"hexadecimal: 1010\n    decimal: 4112\n"}, nil},
		{"eval 2 + 3 * 4", ExitOK, []string{"decimal: 14\n"}, nil},
		{"eval (2 + 3) * 4 - 1", ExitOK, []string{"decimal: 19\n"}, nil},
		{"eval (1 << 12 | 0xff & 0xf)", ExitOK, []string{"hexadecimal: 100f\n"}, nil},
		{"eval (0x100 >> 4) | cat", ExitOK, []string{"hexadecimal: 10\n"}, nil},
		{"eval ffff888000101234 & ~0xfff", ExitOK, []string{"hexadecimal: ffff888000101000\n"}, nil},
		{"eval init_task + 0x70", ExitOK, []string{"hexadecimal: ffffffff82a0c070", "symbol: init_task+0x70"}, nil},
		{"eval -1", ExitOK, []string{"decimal: 18446744073709551615  (-1)"}, nil},
		{"eval 010", ExitOK, []string{"decimal: 8\n"}, nil},
		{"eval 1 / 0", ExitUsage, nil, nil},
		{"eval (1", ExitUsage, nil, nil},
		{"eval 1 +", ExitUsage, nil, nil},
		{"eval nosuchsym", ExitUsage, nil, nil},
		{"help -a", ExitOK, []string{"NAME\n  dis - ", "NAME\n  whatis - ", "Per-task commands: "}, nil},
		{"help foreach", ExitOK, []string{"Per-task commands: ", ", task, vm."}, nil},
		{"help rd", ExitOK, []string{"USAGE", "rd [-p]", "-64", "--json", "EXAMPLES"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			s, out, errb, _ := newTestSession(t)
			s.Reg.SetTaskSource(nil) // the synthetic kernel uses the built-in list walk
			st := s.Exec(context.Background(), tc.line)
			if st != tc.status {
				t.Errorf("status %d, want %d; stdout:\n%s\nstderr:\n%s", st, tc.status, out, errb)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s\nstderr: %s", w, out, errb)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestSetPersists checks that set changes the context later commands use.
func TestSetPersists(t *testing.T) {
	s, out, errb, _ := newTestSession(t)
	s.Reg.SetTaskSource(nil)
	ctx := context.Background()
	s.Exec(ctx, "set 42")
	out.Reset()
	if st := s.Exec(ctx, "task -R comm; set"); st != ExitOK {
		t.Fatalf("status %d: %s", st, errb)
	}
	if !strings.Contains(out.String(), `comm = "hangfs"`) || !strings.Contains(out.String(), "PID: 42") {
		t.Errorf("context not kept:\n%s", out)
	}
}

// jsonSchemas maps a command line to the Go type its JSON document must
// decode into with no unknown fields, and the keys it must have.
var jsonSchemas = []struct {
	line     string
	into     any
	required []string
}{
	{"help", &HelpList{}, []string{"commands"}},
	{"help rd", &HelpCommand{}, []string{"name", "summary", "usage", "help", "flags", "examples"}},
	{"help -a", &HelpAll{}, []string{"commands"}},
	{"eval 1+1", &EvalResult{}, []string{"value", "decimal", "signed", "octal", "binary"}},
	{"sys", &SysInfo{}, []string{"live", "symbols", "types", "tasks", "blocked_tasks"}},
	{"rd jiffies 2", &RdResult{}, []string{"address", "physical", "width", "values"}},
	{"rd -s init_task+0x50", &RdResult{}, []string{"values", "symbols"}},
	{"rd -a linux_banner", &RdResult{}, []string{"text"}},
	{"sym do_exit", &SymResult{}, []string{"symbols"}},
	{"struct task_struct", &TypeDef{}, []string{"name", "kind", "size", "members"}},
	{"struct task_struct init_task", &objectResultJSON{}, []string{"type", "address", "value"}},
	{"struct task_struct.comm,pid init_task", &objectResultJSON{}, []string{"type", "address", "members"}},
	{"p init_task.se", &objectResultJSON{}, []string{"expr", "type", "address", "value"}},
	{"p &init_task", &AddressResult{}, []string{"expr", "address"}},
	{"whatis init_task", &TypeDef{}, []string{"name", "kind", "size", "decl"}},
	{"dis do_exit", &DisResult{}, []string{"instructions"}},
	{"mod", &ModList{}, []string{"modules"}},
	{"search -s init_task -e init_task+0x100 init_task", &SearchResult{}, []string{"hits", "scanned_bytes", "skipped_pages", "truncated"}},
	{"list -H -o task_struct.tasks -s task_struct.pid init_task.tasks", &listJSON{}, []string{"entries"}},
	{"set 1", &TaskContext{}, []string{"pid", "comm", "task", "cpu", "state"}},
	{"foreach task -R pid", &foreachJSON{}, []string{"command", "tasks"}},
	{"nosuchcommand", &errorDoc{}, []string{"command", "error"}},
}

// objectResultJSON mirrors ObjectResult's JSON with the value left raw.
type objectResultJSON struct {
	Expr    string            `json:"expr"`
	Type    string            `json:"type"`
	Address *Hex              `json:"address"`
	Value   json.RawMessage   `json:"value"`
	Members []json.RawMessage `json:"members"`
}

type listJSON struct {
	Entries []struct {
		Address Hex               `json:"address"`
		Value   json.RawMessage   `json:"value"`
		Members []json.RawMessage `json:"members"`
	} `json:"entries"`
	Error string `json:"error"`
}

type foreachJSON struct {
	Command string `json:"command"`
	Tasks   []struct {
		PID    int             `json:"pid"`
		Comm   string          `json:"comm"`
		Task   Hex             `json:"task"`
		CPU    int             `json:"cpu"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	} `json:"tasks"`
	Warnings []string `json:"warnings"`
}

// TestJSONSchemas validates each command's --json document against its
// documented schema (the Go type; see schema.md).
func TestJSONSchemas(t *testing.T) {
	for _, tc := range jsonSchemas {
		t.Run(tc.line, func(t *testing.T) {
			s, out, _, _ := newTestSession(t)
			s.Reg.SetTaskSource(nil)
			s.Exec(context.Background(), tc.line+" --json")
			b := bytes.TrimSpace(out.Bytes())
			if bytes.Count(b, []byte("\n")) != 0 {
				t.Fatalf("want one line of JSON, got:\n%s", b)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			v := reflect.New(reflect.TypeOf(tc.into).Elem()).Interface()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("%s does not match %T: %v", b, tc.into, err)
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(b, &keys); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.required {
				if _, ok := keys[k]; !ok {
					t.Errorf("key %q missing in %s", k, b)
				}
			}
		})
	}
}

// TestObjectJSONValues checks the JSON value conventions of printed objects.
func TestObjectJSONValues(t *testing.T) {
	s, out, _, _ := newTestSession(t)
	s.Exec(context.Background(), "struct task_struct init_task --json")
	var doc struct {
		Value map[string]any `json:"value"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"comm":   "swapper/0",
		"pid":    float64(0),
		"fn":     "0xffffffff81000100",
		"flag":   false,
		"demo":   "DEMO_OFF",
		"anon_a": float64(0), // anonymous union members are hoisted
		"bits":   float64(5),
		"parent": "0xffffffff82a0c000",
	}
	for k, v := range want {
		if !reflect.DeepEqual(doc.Value[k], v) {
			t.Errorf("value[%q] = %#v, want %#v", k, doc.Value[k], v)
		}
	}
	tasks, ok := doc.Value["tasks"].(map[string]any)
	if !ok || tasks["next"] != "0xffff888000100010" {
		t.Errorf("tasks = %#v", doc.Value["tasks"])
	}
}

func TestSetDefaultTaskRealDump(t *testing.T) {
	prog := openRealDump(t)
	s := NewSession(prog, NewDefaultRegistry(), &bytes.Buffer{}, &bytes.Buffer{})
	ti, err := s.SetDefaultTask(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Whatever runs on a CPU is in state RU, on an online CPU.
	if ti.State != "RU" || ti.CPU < 0 || ti.CPU > 1 || !s.Task.IsValid() {
		t.Errorf("default task %+v", ti)
	}
	t.Logf("default task: pid %d %q cpu %d %s", ti.PID, ti.Comm, ti.CPU, ti.State)
}

// TestSetDefaultTaskSynthetic has no runqueues: the context stays unset.
func TestSetDefaultTaskSynthetic(t *testing.T) {
	s, _, _, _ := newTestSession(t)
	if _, err := s.SetDefaultTask(context.Background()); err == nil || s.Task.IsValid() {
		t.Errorf("default task chosen without runqueues: %v", err)
	}
}

// TestNoSymbolTable runs commands on a program without symbols or types:
// errors, not panics.
func TestNoSymbolTable(t *testing.T) {
	k := synth.New()
	prog := symbols.NewProgram(k.Mem, nil, nil)
	for _, line := range []string{"sym x", "sym -l", "dis 0xffffffff81000100", "rd -s 0xffffffff82a00000", "whatis x", "struct task_struct",
		"p jiffies", "mod", "set 1", "list -o 0 0xffffffff82a00000", "sys", "vtop 0x1000", "foreach task", "p ((struct task_struct *)0x1)->pid"} {
		var out, errb bytes.Buffer
		s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
		s.Exec(context.Background(), line)
		if strings.Contains(errb.String(), "internal error") {
			t.Errorf("%s: %s", line, errb.String())
		}
	}
}

func bswap32(v uint32) uint32 { return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24 }

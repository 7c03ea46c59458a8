package repl

import (
	"strconv"
	"strings"
)

// parseArgs separates flags from positional arguments. Flags may come
// anywhere (crash style: "struct -o task_struct", "rd jiffies -64"); "--"
// ends them. A word that looks like a negative number and is not a declared
// flag is positional. "--json"/"-j" are global and reported separately.
func parseArgs(cmd *Command, words []string) (flags map[string]string, args []string, json bool, err error) {
	flags = make(map[string]string)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			args = append(args, words[i+1:]...)
			break
		}
		if len(w) < 2 || w[0] != '-' {
			args = append(args, w)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(w, "-"), "-")
		val, hasVal := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = k, v, true
		}
		f := findFlag(cmd, name)
		if f == nil {
			if name == "json" || name == "j" {
				json = true
				continue
			}
			if _, nerr := strconv.ParseInt(w, 0, 64); nerr == nil {
				args = append(args, w)
				continue
			}
			return nil, nil, false, UsageErrorf("%s: unknown flag %s (see \"help %s\")", cmd.Name, abbreviate(w), cmd.Name)
		}
		if f.Arg == "" {
			if hasVal {
				return nil, nil, false, UsageErrorf("%s: flag -%s takes no value", cmd.Name, f.Name)
			}
			flags[f.Name] = "true"
			continue
		}
		if !hasVal {
			if i+1 >= len(words) {
				return nil, nil, false, UsageErrorf("%s: flag -%s needs a %s", cmd.Name, f.Name, f.Arg)
			}
			i++
			val = words[i]
		}
		flags[f.Name] = val
	}
	return flags, args, json, nil
}

func findFlag(cmd *Command, name string) *Flag {
	for i := range cmd.Flags {
		f := &cmd.Flags[i]
		if f.Name == name {
			return f
		}
		for _, a := range f.Aliases {
			if a == name {
				return f
			}
		}
	}
	return nil
}

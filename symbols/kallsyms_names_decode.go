package symbols

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// decodeChunkMin is the fewest entries one goroutine of expandNames takes:
// below it, starting goroutines costs more than it saves.
const decodeChunkMin = 8192

// expandNames expands the entries starting at offs (as entryOffsets found
// them) into one string, using up to GOMAXPROCS goroutines over contiguous
// ranges of entries. The error is that of the first entry that fails, as a
// serial decode would report it.
func expandNames(names []byte, offs []uint32, toks *[256]string, big bool) (*kallsymsNames, error) {
	parts := max(1, min(runtime.GOMAXPROCS(0), len(offs)/decodeChunkMin, 8))
	return expandNamesIn(names, offs, toks, big, parts)
}

// expandNamesIn is expandNames with parts goroutines.
func expandNamesIn(names []byte, offs []uint32, toks *[256]string, big bool, parts int) (*kallsymsNames, error) {
	n := len(offs)
	out := &kallsymsNames{ends: make([]uint32, n), types: make([]byte, n)}
	bufs := make([][]byte, parts)
	errs := make([]error, parts)
	facts := factsOf(toks)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs[p], errs[p] = expandRange(names, offs, lo, hi, toks, facts, big, out)
		}()
	}
	wg.Wait()
	total := 0
	for p := range parts {
		if errs[p] != nil {
			return nil, errs[p]
		}
		total += len(bufs[p])
	}
	// Each range's ends are relative to its own buffer: shift them.
	var all strings.Builder
	all.Grow(total)
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		base := uint32(all.Len())
		for i := lo; i < hi && base != 0; i++ {
			out.ends[i] += base
		}
		all.Write(bufs[p])
	}
	out.all = all.String()
	return out, nil
}

// tokenFacts are what the fast path of expandRange knows of the tokens.
type tokenFacts struct {
	printable [256]bool // the token is all printable characters
	maxLen    int       // the longest token
}

func factsOf(toks *[256]string) *tokenFacts {
	f := &tokenFacts{}
	for i, t := range toks {
		f.maxLen = max(f.maxLen, len(t))
		f.printable[i] = true
		for _, c := range []byte(t) {
			if c <= ' ' || c > '~' {
				f.printable[i] = false
				break
			}
		}
	}
	return f
}

// expandRange expands entries lo..hi-1 into a buffer of their names
// (without type letters), filling out.types[i] and out.ends[i] (relative to
// the buffer) for each. Entries that cannot exceed maxSymbolName and whose
// tokens are all printable are expanded straight into the buffer; any other
// goes through expandName, which checks it character by character.
func expandRange(names []byte, offs []uint32, lo, hi int, toks *[256]string, facts *tokenFacts, big bool, out *kallsymsNames) ([]byte, error) {
	if lo == hi {
		return nil, nil
	}
	// Names expand to about twice their encoded size; the buffer grows when
	// they expand more.
	endByte := len(names)
	if hi < len(offs) {
		endByte = int(offs[hi])
	}
	buf := make([]byte, 0, 2*(endByte-int(offs[lo])))
	var scratch [maxSymbolName + maxToken]byte
	for i := lo; i < hi; i++ {
		body, next, err := entryBounds(names, int(offs[i]), big)
		if err == nil && (next-body)*facts.maxLen <= maxSymbolName+1 {
			start := len(buf)
			ok := true
			for _, b := range names[body:next] {
				ok = ok && facts.printable[b]
				buf = append(buf, toks[b]...)
			}
			if ok && len(buf)-start >= 2 && isTypeLetter(buf[start]) {
				out.types[i] = buf[start]
				copy(buf[start:], buf[start+1:])
				buf = buf[:len(buf)-1]
				out.ends[i] = uint32(len(buf))
				continue
			}
			buf = buf[:start]
		}
		exp, _, err := expandName(names, int(offs[i]), toks, big, scratch[:0])
		if err != nil {
			return nil, fmt.Errorf("kallsyms_names: symbol %d of %d at offset %d: %w", i, len(offs), offs[i], err)
		}
		out.types[i] = exp[0]
		buf = append(buf, exp[1:]...)
		out.ends[i] = uint32(len(buf))
	}
	return buf, nil
}

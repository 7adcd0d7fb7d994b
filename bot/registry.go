package bot

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Registry is the explicit, immutable table of commands, built once at
// start. A duplicate or malformed command is an error then, never a
// surprise later.
type Registry struct {
	list     []*Command
	byName   map[string]*Command
	groups   map[string][]*Command // first word of multi-word names
	maxWords int
}

// NewRegistry checks and indexes the commands. Names are lower case words;
// "help" is reserved for the Engine's built-in help.
func NewRegistry(cmds ...Command) (*Registry, error) {
	r := &Registry{byName: map[string]*Command{}, groups: map[string][]*Command{}}
	var errs []error
	for i := range cmds {
		c := cmds[i]
		name := strings.Join(strings.Fields(c.Name), " ")
		switch {
		case name == "" || name != strings.ToLower(name) || name != c.Name:
			errs = append(errs, fmt.Errorf("command %d: name %q must be lower-case words separated by one space", i, c.Name))
			continue
		case c.Run == nil:
			errs = append(errs, fmt.Errorf("command %q has no Run function", name))
			continue
		case r.byName[name] != nil:
			errs = append(errs, fmt.Errorf("command %q is registered twice", name))
			continue
		}
		seen := map[string]bool{}
		for _, f := range c.Flags {
			if f.Name == "" || strings.HasPrefix(f.Name, "-") || seen[f.Name] {
				errs = append(errs, fmt.Errorf("command %q: bad or duplicate flag %q", name, f.Name))
			}
			if err := f.checkDeclaration(); err != nil {
				errs = append(errs, fmt.Errorf("command %q: %w", name, err))
			}
			seen[f.Name] = true
		}
		cp := c
		r.byName[name] = &cp
		r.list = append(r.list, &cp)
		words := strings.Fields(name)
		if len(words) > 1 {
			r.groups[words[0]] = append(r.groups[words[0]], &cp)
		}
		r.maxWords = max(r.maxWords, len(words))
	}
	for g := range r.groups {
		// "audit" beside "audit verify" is unambiguous only when "audit"
		// takes no positional arguments.
		if c := r.byName[g]; c != nil && c.MaxArgs != 0 {
			errs = append(errs, fmt.Errorf("command %q takes arguments and is also the first word of %q", g, r.groups[g][0].Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.SliceStable(r.list, func(i, j int) bool { return r.list[i].Name < r.list[j].Name })
	return r, nil
}

// extend returns a new registry holding r's commands and cmds; a name
// taken twice is an error.
func (r *Registry) extend(cmds ...Command) (*Registry, error) {
	all := make([]Command, 0, len(r.list)+len(cmds))
	for _, c := range r.list {
		all = append(all, *c)
	}
	return NewRegistry(append(all, cmds...)...)
}

// Commands returns every command, sorted by name.
func (r *Registry) Commands() []*Command { return r.list }

// Lookup finds a command by its exact name.
func (r *Registry) Lookup(name string) *Command { return r.byName[name] }

// resolve finds the command the words start with (the longest name that
// matches) and returns it with the remaining words.
func (r *Registry) resolve(words []string) (*Command, []string) {
	for n := min(r.maxWords, len(words)); n > 0; n-- {
		name := strings.ToLower(strings.Join(words[:n], " "))
		if c := r.byName[name]; c != nil {
			if rest := words[n:]; len(rest) > 0 && !strings.HasPrefix(rest[0], "-") && r.groups[name] != nil {
				// "audit verfy": a misspelt subcommand, not an argument.
				return nil, words
			}
			return c, words[n:]
		}
	}
	return nil, words
}

// unknown explains why words name no command, with a suggestion when one
// is near.
func (r *Registry) unknown(words []string) *UsageError {
	first := strings.ToLower(words[0])
	if group := r.groups[first]; group != nil {
		names := make([]string, len(group))
		for i, c := range group {
			names[i] = c.Name
		}
		sort.Strings(names)
		if len(words) == 1 {
			return usageErr("%q needs a subcommand: %s.", first, strings.Join(names, ", "))
		}
		if s := closest(first+" "+strings.ToLower(words[1]), names); s != "" {
			return usageErr("Unknown command %q. Did you mean %q?", clip(first+" "+words[1], 60), s)
		}
		return usageErr("Unknown command %q. %q has: %s.", clip(first+" "+words[1], 60), first, strings.Join(names, ", "))
	}
	candidates := []string{"help"}
	for _, c := range r.list {
		candidates = append(candidates, strings.Fields(c.Name)[0])
	}
	if s := closest(first, candidates); s != "" {
		return usageErr("Unknown command %q. Did you mean %q? Type `help` for the list.", clip(words[0], 60), s)
	}
	return usageErr("Unknown command %q. Type `help` for the list.", clip(words[0], 60))
}

// Parse resolves a whole command line (with or without the /shiftwise
// prefix) to its command and arguments, as the Engine would before
// authorizing it. Commands that compose others (the symptom runbooks) use
// it; it runs nothing and authorizes nothing.
func (r *Registry) Parse(line string) (*Command, Args, error) {
	words, err := Tokenize(line)
	if err != nil {
		return nil, Args{}, err
	}
	words = stripPrefix(words)
	if len(words) == 0 {
		return nil, Args{}, usageErr("An empty command line names no command.")
	}
	cmd, rest := r.resolve(words)
	if cmd == nil {
		return nil, Args{}, r.unknown(words)
	}
	args, err := parseArgs(cmd, rest)
	if err != nil {
		return cmd, Args{}, err
	}
	return cmd, args, nil
}

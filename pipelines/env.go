package pipelines

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR} and ${VAR:-default} in s with values from env;
// "$$" is a literal "$". A reference to an unset variable without a default
// is an error naming it. secret reports whether a substituted variable's
// name looks like it holds a secret (PASSWORD, SECRET, TOKEN, ...), so
// the value is never printed.
func expand(s string, env func(string) (string, bool)) (out string, secret bool, err error) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			b.WriteByte('$') // a lone $ is literal
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", false, fmt.Errorf("unterminated ${ in %q (write $$ for a literal $)", s)
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", false, fmt.Errorf("bad environment variable reference ${%s}: want ${NAME} or ${NAME:-default}, NAME of letters, digits and _", ref)
		}
		val, ok := env(name)
		switch {
		case hasDef && (!ok || val == ""):
			val = def
		case !ok:
			return "", false, fmt.Errorf("environment variable %s is not set (export it, or write ${%s:-default})", name, name)
		default:
			if secretName(name) {
				secret = true
			}
		}
		b.WriteString(val)
		i += 2 + end
	}
	return b.String(), secret, nil
}

func validEnvName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// secretName reports whether an environment variable's name suggests a
// secret.
func secretName(name string) bool {
	u := strings.ToUpper(name)
	for _, w := range []string{"PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "AUTH"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	return false
}

// isSecretPath reports whether a key always holds a secret.
func isSecretPath(path string) bool {
	return path == "source.sasl.password"
}

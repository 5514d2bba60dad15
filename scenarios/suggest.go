package scenarios

import (
	"fmt"
	"strings"
)

// closest returns the candidate nearest to word, or "" when none is near
// enough to be a plausible typo. Case, '-' versus '_' and swapped letters
// count as small slips, so "On-Failure" finds "on_failure" and "hodl"
// finds "hold".
func closest(word string, candidates []string) string {
	w := normalize(word)
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(w, normalize(c))
		// Allow about one slip per three letters, at most two: enough for
		// typos, too little to map one real word onto another.
		limit := min(2, max(1, len(c)/3))
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

func normalize(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// didYouMean returns the hint `did you mean "X"?` for the candidate
// closest to word, or "".
func didYouMean(word string, candidates []string) string {
	if c := closest(word, candidates); c != "" {
		return fmt.Sprintf("did you mean %q?", c)
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes each cost one.
func editDistance(a, b string) int {
	// Three rolling rows: the transposition rule looks two rows back.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

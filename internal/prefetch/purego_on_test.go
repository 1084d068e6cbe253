//go:build purego

package prefetch

const purego = true

module github.com/tether-rt/tether

go 1.26

require github.com/klauspost/compress v1.20.4 // indirect

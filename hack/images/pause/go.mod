module github.com/motherboard/motherboard/hack/images/pause

go 1.24

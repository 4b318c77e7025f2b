bar-go

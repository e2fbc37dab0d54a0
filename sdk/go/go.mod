module github.com/auditstore/auditstore/sdk/go

go 1.19

"""Wire protocol: the .proto files and their generated, committed stubs."""

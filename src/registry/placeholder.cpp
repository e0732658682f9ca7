// filled in by the core proxy work

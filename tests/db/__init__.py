# A package, so test modules here may share names with tests elsewhere and import store_cases.

"""Write a traced case to investigator tools: graph formats, tables and visual views."""

/* source_report.c: to be written */

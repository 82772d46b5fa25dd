/* detect_report.c: to be written */

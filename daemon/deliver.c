/* deliver.c: to be written */

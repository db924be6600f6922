"""Stage 1, data: where digits come from (image_sources, image_list, mnist_idx,
mnist_download, prepare_mnist), image files (image_io), pairs, Caffe records (datum_codec,
lmdb_writer, pair_lmdb), means and pictures, create-db, and reading a dataset back
(datasets, lmdb_check, and lmdb_reader: every read-only, lock-free LMDB open)."""

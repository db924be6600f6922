"""Stage 0, the runtime: finding and importing Caffe (caffe_env, caffe_info), its log
(caffe_log), devices, prototxt files, building nets in a child Caffe (netprobe), BLAS facts,
SIGINT/SIGTERM (interrupts), and the two ways anything is written: whole files
(atomic_files) and whole folders (staging)."""

from keras_kd.data.idx import FASHION_MNIST_DIR, load_idx_split, read_idx

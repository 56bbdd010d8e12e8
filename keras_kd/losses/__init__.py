from keras_kd.losses.kd import kd_divergence, kd_loss

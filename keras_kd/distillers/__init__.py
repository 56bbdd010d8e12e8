from keras_kd.distillers.distiller import Distiller

"""FastStyleNet: the image transformation network of Johnson et al., "Perceptual Losses for Real-Time
Style Transfer and Super-Resolution" (2016), with the layer names and choices of the Chainer
implementation chainer-fast-neuralstyle, so that its published style models (saved with
chainer.serializers.save_npz) load into it:

    model = FastStyleNet()
    chainer.serializers.load_npz("composition.model", model)

Input: an RGB image as float32 (1, 3, H, W) in 0..255; output: the stylized image, same layout and
range. H and W multiples of 4 keep the output the input's size."""
import chainer
import chainer.functions as F
import chainer.links as L


class ResidualBlock(chainer.Chain):
    """conv - batch norm - ReLU - conv - batch norm, plus the input."""

    def __init__(self, channels: int, ksize: int = 3):
        super().__init__()
        with self.init_scope():
            self.c1 = L.Convolution2D(channels, channels, ksize, 1, ksize // 2)
            self.c2 = L.Convolution2D(channels, channels, ksize, 1, ksize // 2)
            self.b1 = L.BatchNormalization(channels)
            self.b2 = L.BatchNormalization(channels)

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        return self.b2(self.c2(h)) + x


class FastStyleNet(chainer.Chain):
    """Three downsampling convolutions, five residual blocks, three upsampling (transposed)
    convolutions; ELU activations, batch normalization, a tanh output scaled to 0..255."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.c1 = L.Convolution2D(3, 32, 9, stride=1, pad=4)
            self.c2 = L.Convolution2D(32, 64, 4, stride=2, pad=1)
            self.c3 = L.Convolution2D(64, 128, 4, stride=2, pad=1)
            self.r1 = ResidualBlock(128)
            self.r2 = ResidualBlock(128)
            self.r3 = ResidualBlock(128)
            self.r4 = ResidualBlock(128)
            self.r5 = ResidualBlock(128)
            self.d1 = L.Deconvolution2D(128, 64, 4, stride=2, pad=1)
            self.d2 = L.Deconvolution2D(64, 32, 4, stride=2, pad=1)
            self.d3 = L.Deconvolution2D(32, 3, 9, stride=1, pad=4)
            self.b1 = L.BatchNormalization(32)
            self.b2 = L.BatchNormalization(64)
            self.b3 = L.BatchNormalization(128)
            self.b4 = L.BatchNormalization(64)
            self.b5 = L.BatchNormalization(32)

    def forward(self, x):
        h = self.b1(F.elu(self.c1(x)))
        h = self.b2(F.elu(self.c2(h)))
        h = self.b3(F.elu(self.c3(h)))
        for block in (self.r1, self.r2, self.r3, self.r4, self.r5):
            h = block(h)
        h = self.b4(F.elu(self.d1(h)))
        h = self.b5(F.elu(self.d2(h)))
        return (F.tanh(self.d3(h)) + 1) * 127.5

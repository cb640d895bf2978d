"""Video GANs (ImaGINator, G3AN, InMoDeGAN, MoStGAN-V) for synthetic-data augmentation of human
videos."""

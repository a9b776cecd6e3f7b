int latent_image_io_placeholder(void);

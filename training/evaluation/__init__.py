"""The paper's evaluation on Drag-a-Move: PSNR, SSIM, LPIPS, FVD and motion error (section 5.1)."""

/// The product's version, shared by both binaries.
public enum ProductVersion {
    public static let string = "0.1.0"
}

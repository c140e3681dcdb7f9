import CartWorker
import CatalogWorker
import IdentityWorker
import Messaging
import NotificationWorker
import PromotionWorker

/// The five saga participants by name.
public enum Workers {
    /// The business logic of `participant` (`catalog`, `promotion`, `identity`, `cart`,
    /// `notification`), or `nil` for an unknown name.
    public static func handler(for participant: String) -> (any CommandHandler)? {
        switch participant {
        case "catalog": CatalogHandler()
        case "promotion": PromotionHandler()
        case "identity": IdentityHandler()
        case "cart": CartHandler()
        case "notification": NotificationHandler()
        default: nil
        }
    }
}
